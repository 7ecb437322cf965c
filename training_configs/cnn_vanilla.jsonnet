(import 'lib/cnn.libsonnet')('vanilla')
