(import 'lib/sst.libsonnet')('attention_at')
