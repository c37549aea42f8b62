"""Word targets: GloVe from its offline package, any Hugging Face encoder loaded by path."""

import numpy as np
import pytest
import torch

from neuroseq.data.word_vectors import word_vectors
from neuroseq.errors import DataError


def test_glove_vectors_know_which_words_are_alike():
    v = word_vectors(["king", "queen", "water", "king"])
    assert set(v) == {"king", "queen", "water"} and v["king"].shape == (50,)

    def cos(a, b):
        return float(v[a] @ v[b] / np.linalg.norm(v[a]) / np.linalg.norm(v[b]))
    assert cos("king", "queen") > cos("king", "water") + 0.3
    with pytest.raises(DataError, match="not in the 'glove' vocabulary"):
        word_vectors(["king", "qzxqzxq"])
    assert set(word_vectors(["king", "qzxqzxq"], on_missing="skip")) == {"king"}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizer

    d = tmp_path_factory.mktemp("bert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "house", "dog", "wal", "##ked"]
    (d / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(d / "vocab.txt")).save_pretrained(d)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=32)).save_pretrained(d)
    return d


def test_a_hugging_face_encoder_means_a_words_sub_tokens_at_the_chosen_layer(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    v = word_vectors(["dog", "walked"], str(tiny_bert))
    v1 = word_vectors(["walked"], f"{tiny_bert}@1")
    tok, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert)
    with torch.no_grad():
        out = model(**tok(["walked"], return_tensors="pt"), output_hidden_states=True)
    # [CLS] wal ##ked [SEP]: the two sub-tokens only
    assert np.allclose(v["walked"], out.last_hidden_state[0, 1:3].mean(0).numpy(), atol=1e-5)
    assert np.allclose(v1["walked"], out.hidden_states[1][0, 1:3].mean(0).numpy(), atol=1e-5)
    assert v["dog"].shape == (16,) and not np.allclose(v["dog"], v["walked"])
    with pytest.raises(DataError, match="cannot load the text encoder"):
        word_vectors(["dog"], str(tiny_bert / "nope"))
