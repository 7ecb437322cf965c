(import 'lib/imdb.libsonnet')('vanilla')
