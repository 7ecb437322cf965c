(import 'lib/babi.libsonnet')('attention_at', task=2)
