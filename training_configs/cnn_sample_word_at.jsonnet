(import 'lib/cnn.libsonnet')('word_at', 'cnn_sample')
