(import 'lib/cnn.libsonnet')('word_iat', 'cnn_sample')
