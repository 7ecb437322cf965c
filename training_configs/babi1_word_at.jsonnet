(import 'lib/babi.libsonnet')('word_at', task=1)
