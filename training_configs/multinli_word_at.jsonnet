(import 'lib/nli.libsonnet')('word_at', 'multinli')
