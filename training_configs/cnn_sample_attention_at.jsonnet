(import 'lib/cnn.libsonnet')('attention_at', 'cnn_sample')
