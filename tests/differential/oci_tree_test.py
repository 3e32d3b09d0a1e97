"""Unit tests of the layer reader (run first by run.sh): whiteouts, opaque directories, hard
links and type changes, on in-memory tars."""

import io
import tarfile
import unittest

import oci_tree
from oci_tree import tar_bytes


def apply(tree, members):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes(members)), mode="r|") as t:
        oci_tree.apply_layer(tree, t)
    return tree


class ApplyLayerTest(unittest.TestCase):
    def base(self):
        return apply({}, [("a", "dir", None), ("a/x", "file", b"x"), ("a/y", "file", b"y"),
                          ("b", "file", b"b")])

    def test_whiteout_removes_file_and_subtree(self):
        tree = apply(self.base(), [("a/.wh.x", "file", None), (".wh.a", "file", None)])
        self.assertNotIn("/a/x", tree)
        self.assertNotIn("/a/y", tree)
        self.assertNotIn("/a", tree)
        self.assertIn("/b", tree)

    def test_opaque_dir_keeps_only_this_layers_children(self):
        tree = apply(self.base(), [("a", "dir", None), ("a/z", "file", b"z"),
                                   ("a/.wh..wh..opq", "file", None)])
        self.assertEqual(sorted(p for p in tree if p.startswith("/a/")), ["/a/z"])

    def test_hard_link_takes_the_targets_content(self):
        tree = apply(self.base(), [("c", "link", "b")])
        self.assertEqual(tree["/c"].type, "file")
        self.assertEqual(tree["/c"].digest, tree["/b"].digest)

    def test_file_replacing_dir_drops_the_subtree(self):
        tree = apply(self.base(), [("a", "file", b"now a file")])
        self.assertEqual(tree["/a"].type, "file")
        self.assertNotIn("/a/x", tree)

    def test_symlink_replacing_file_keeps_target(self):
        tree = apply(self.base(), [("b", "symlink", "/a/x")])
        self.assertEqual(tree["/b"].type, "symlink")
        self.assertEqual(tree["/b"].link, "/a/x")

    def test_different_content_gives_different_digest(self):
        one = apply({}, [("f", "file", b"one")])
        two = apply({}, [("f", "file", b"two")])
        self.assertNotEqual(one["/f"], two["/f"])
        self.assertEqual(one["/f"], apply({}, [("./f", "file", b"one")])["/f"])

    def test_dotdot_member_is_refused(self):
        with self.assertRaises(oci_tree.LayoutError):
            apply({}, [("../evil", "file", b"x")])


if __name__ == "__main__":
    unittest.main()
