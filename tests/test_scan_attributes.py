from core.io.scan_attributes import plane_from_path, sequence_from_path
from core.labels import canonical_label

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def test_sequence_and_plane_come_from_whole_name_tokens_only():
    assert sequence_from_path("glioma/astrocitoma_T1C_009_big_gallery.jpeg") == "T1C"
    assert sequence_from_path("meningioma/meningioma_T1_0a1b.jpg") == "T1"
    assert sequence_from_path("notumor/normal_T2_x.jpeg") == "T2"
    assert sequence_from_path("axial/T1+C/slice.png") == "T1C"
    assert sequence_from_path("case/flair_07.png") == "FLAIR"
    assert sequence_from_path("Training/glioma/Tr-gl_0010.jpg") == ""
    assert sequence_from_path("x/0t2ab_c3.jpg") == ""  # inside a hash, not a token
    assert plane_from_path("sagittal/t2/x.png") == "sagittal"
    assert plane_from_path("glioma/astrocitoma_T1C_009.jpeg") == ""


def test_common_label_spellings_map_and_others_are_not_guessed():
    for spelling, name in (
        ("no_tumor", "notumor"),
        ("Normal", "notumor"),
        ("glioma_tumor", "glioma"),
        ("PITUITARY_TUMOR", "pituitary"),
        ("Meningioma", "meningioma"),
    ):
        assert canonical_label(spelling, CLASSES) == name, spelling
    assert canonical_label("metastasis", CLASSES) is None
    assert canonical_label("pituitary", ["glioma", "notumor"]) is None
