(import 'lib/imdb.libsonnet')('attention_at')
