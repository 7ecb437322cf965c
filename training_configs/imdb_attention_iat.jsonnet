(import 'lib/imdb.libsonnet')('attention_iat')
