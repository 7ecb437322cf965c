(import 'lib/agnews.libsonnet')('attention_at')
