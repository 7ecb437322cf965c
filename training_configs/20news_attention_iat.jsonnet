(import 'lib/20news.libsonnet')('attention_iat')
