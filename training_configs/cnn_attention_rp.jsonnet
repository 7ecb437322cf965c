(import 'lib/cnn.libsonnet')('attention_rp')
