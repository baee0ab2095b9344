import pytest

from gitmodels.storage import manifest
from gitmodels.errors import BadManifest, UnsafeEntry
from gitmodels.storage.manifest import Entry

OID = "b" * 64


def test_canonical_bytes_do_not_depend_on_input_order():
    a = manifest.build([Entry("z.bin", OID, 1), Entry("a/b.txt", OID, 2, True)])
    b = manifest.build([Entry("a/b.txt", OID, 2, True), Entry("z.bin", OID, 1)])
    assert a.dumps() == b.dumps() and a.oid == b.oid
    assert manifest.parse(a.dumps()) == a
    assert a.size == 3


@pytest.mark.parametrize("bad", ["../evil", "/etc/passwd", "a/../../x", "a//b", "./a", ".git/config", "a\\..\\b", ""])
def test_entries_that_escape_are_refused_when_read(bad):
    line = '{"path":%s,"oid":"%s","size":1,"x":false}' % (__import__("json").dumps(bad), OID)
    data = ('{"gitmodels_manifest":1}\n' + line + "\n").encode()
    with pytest.raises(UnsafeEntry):
        manifest.parse(data)


def test_malformed_manifests():
    with pytest.raises(BadManifest):
        manifest.parse(b"not json")
    with pytest.raises(BadManifest):
        manifest.parse(b'{"gitmodels_manifest":9}\n')
    with pytest.raises(BadManifest):
        manifest.parse(b'{"gitmodels_manifest":1}\n{"path":"a","oid":"xyz","size":1}\n')
    with pytest.raises(BadManifest):
        manifest.build([Entry("a", OID, 1), Entry("a", OID, 1)])
    with pytest.raises(UnsafeEntry):
        manifest.build([Entry("a", OID, 1), Entry("a/b", OID, 1)])
