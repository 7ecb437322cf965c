(import 'lib/cnn.libsonnet')('word_at')
