(import 'lib/babi.libsonnet')('attention_rp', task=3)
