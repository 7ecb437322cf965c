(import 'lib/agnews.libsonnet')('word_at')
