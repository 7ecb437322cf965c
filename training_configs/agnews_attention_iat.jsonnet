(import 'lib/agnews.libsonnet')('attention_iat')
