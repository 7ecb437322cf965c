(import 'lib/sst.libsonnet')('attention_rp')
