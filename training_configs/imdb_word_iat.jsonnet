(import 'lib/imdb.libsonnet')('word_iat')
