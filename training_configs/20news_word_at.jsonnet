(import 'lib/20news.libsonnet')('word_at')
