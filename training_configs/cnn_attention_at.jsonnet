(import 'lib/cnn.libsonnet')('attention_at')
