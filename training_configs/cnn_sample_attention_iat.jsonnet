(import 'lib/cnn.libsonnet')('attention_iat', 'cnn_sample')
