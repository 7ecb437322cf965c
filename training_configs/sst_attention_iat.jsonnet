(import 'lib/sst.libsonnet')('attention_iat')
