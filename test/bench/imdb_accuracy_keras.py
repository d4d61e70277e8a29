"""imdb_accuracy_keras.py - the tutorial's IMDB model in Keras 3 (TensorFlow
backend) on exactly the padded data seqlua trains on, to compare test
accuracies seed by seed (accuracy, not speed: run/peer_keras.py time things).

    build/seqlua test/bench/imdb_export.lua /tmp/seqlua-imdb.safetensors
    /tmp/kvenv/bin/python test/bench/imdb_accuracy_keras.py SEED [/tmp/seqlua-imdb.safetensors]

Embedding(5000, 32) -> LSTM(100) -> Dense(1, sigmoid), Adam, binary
cross-entropy, batch 64, 3 epochs, the test set as validation data; two
intra-op threads like seqlua's runs on this machine."""
import json
import os
import struct
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np  # noqa: E402


def read_safetensors(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n])
    header.pop('__metadata__', None)
    dtypes = {'I32': np.int32, 'F32': np.float32, 'I64': np.int64, 'F64': np.float64}
    body = b[8 + n:]
    return {k: np.frombuffer(body[v['data_offsets'][0]:v['data_offsets'][1]],
                             dtype=dtypes[v['dtype']]).reshape(v['shape'])
            for k, v in header.items()}


def main():
    seed = int(sys.argv[1])
    path = sys.argv[2] if len(sys.argv) > 2 else '/tmp/seqlua-imdb.safetensors'
    import keras
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(seed)
    d = read_safetensors(path)
    model = keras.Sequential([keras.Input((500,), dtype='int32'), keras.layers.Embedding(5000, 32),
                              keras.layers.LSTM(100), keras.layers.Dense(1, activation='sigmoid')])
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    t = time.time()
    model.fit(d['x_train'], d['y_train'], validation_data=(d['x_test'], d['y_test']),
              epochs=3, batch_size=64, verbose=2)
    scores = model.evaluate(d['x_test'], d['y_test'], verbose=0)
    print('seed %d Accuracy: %.2f%% (%.0f s, keras %s, tensorflow %s)'
          % (seed, scores[1] * 100, time.time() - t, keras.__version__, tf.__version__))


if __name__ == '__main__':
    main()
