(import 'lib/babi.libsonnet')('vanilla', task=3)
