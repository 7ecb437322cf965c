(import 'lib/babi.libsonnet')('attention_iat', task=1)
