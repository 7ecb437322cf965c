(import 'lib/cnn.libsonnet')('attention_rp', 'cnn_sample')
