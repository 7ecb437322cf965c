(import 'lib/imdb.libsonnet')('attention_rp')
