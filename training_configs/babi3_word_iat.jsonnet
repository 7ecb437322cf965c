(import 'lib/babi.libsonnet')('word_iat', task=3)
