(import 'lib/agnews.libsonnet')('attention_rp')
