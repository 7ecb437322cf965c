(import 'lib/20news.libsonnet')('attention_rp')
