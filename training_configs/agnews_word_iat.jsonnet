(import 'lib/agnews.libsonnet')('word_iat')
