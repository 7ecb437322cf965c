(import 'lib/babi.libsonnet')('vanilla', task=1)
