(import 'lib/cnn.libsonnet')('word_iat')
