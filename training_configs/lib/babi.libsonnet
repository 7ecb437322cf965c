// bAbI task N (make-dataset splits of the en-10k files; task 1 ships in data/babi_task1/).
// Paper: 50-d embeddings trained from scratch, hidden size 64 (32 per direction).
// Training length: the paper reports 99.9-100 % on task 1 but not its epochs; Jain & Wallace, whose
// setup it follows, train bAbI for 100 epochs, and so do we. Eight epochs (our earlier default, and
// about the released code's 10) leave task 1 at 55-87 % accuracy, and so does early stopping with
// patience 10: runs sit at ~55 % for 5 to 20+ epochs before they learn the task, at random. A run
// ends early only once validation accuracy is 100 %, which no later epoch can beat
// (`stop_at_validation_ceiling`): the kept model is the full-length run's.
local pair = import 'pair.libsonnet';

function(method, task=1) pair(
  method,
  reader={ type: 'babi_qa' },
  train='data/babi_task%d/train.jsonl' % task,
  validation='data/babi_task%d/validation.jsonl' % task,
  test='data/babi_task%d/test.jsonl' % task,
  embedding_dim=50,
  pretrained_file=null,
  hidden_size=32,
  attention_hidden=64,
  decoder_hidden=64,
  epochs=100,
) + { trainer+: { callbacks+: [{ type: 'stop_at_validation_ceiling', ceiling: 1.0 }] } }
