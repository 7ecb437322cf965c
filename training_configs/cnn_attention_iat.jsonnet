(import 'lib/cnn.libsonnet')('attention_iat')
