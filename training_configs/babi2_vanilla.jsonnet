(import 'lib/babi.libsonnet')('vanilla', task=2)
