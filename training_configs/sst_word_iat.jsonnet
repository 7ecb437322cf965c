(import 'lib/sst.libsonnet')('word_iat')
