(import 'lib/sst.libsonnet')('word_at')
