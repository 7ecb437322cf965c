(import 'lib/cnn.libsonnet')('vanilla', 'cnn_sample')
