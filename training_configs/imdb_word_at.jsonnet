(import 'lib/imdb.libsonnet')('word_at')
