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


def test_every_path_is_written_as_json_writes_it_and_read_back():
    """dumps/parse read the plain spelling without the JSON decoder; any path must give the bytes
    json.dumps gives, and a name holding a character splitlines() splits on must read back whole."""
    import json

    names = ["plain/a.bin", 'quo"te', "tab\there", "ctl\x01", "line\u2028sep", "nel\x85x",
             "fs\x1cx", "ünïcödé/ß", "emoji/🙂"]
    man = manifest.build([Entry(n, OID, i, i % 2 == 0) for i, n in enumerate(names)])
    expected = [json.dumps({"gitmodels_manifest": 1}, separators=(",", ":"))]
    expected += [json.dumps({"path": e.path, "oid": e.oid, "size": e.size, "x": e.executable},
                            separators=(",", ":"), ensure_ascii=False) for e in man.entries]
    assert man.dumps() == ("\n".join(expected) + "\n").encode()
    assert manifest.parse(man.dumps()) == man
    # the same entries spelled another way (spaces, keys reordered) are read by the JSON decoder
    other = '{"gitmodels_manifest": 1}\n{"oid": "%s", "size": 7, "path": "a b"}\n' % OID
    assert manifest.parse(other.encode()).entries == (Entry("a b", OID, 7),)


@pytest.mark.parametrize("line", ['{"path":"a","oid":"%s","size":01,"x":false}' % OID,
                                  '{"path":"a","oid":"%s","size":1,"x":false}' % OID.upper(),
                                  '{"path":"a","oid":"%s","size":-1,"x":false}' % OID])
def test_the_fast_reading_refuses_what_the_json_reading_refuses(line):
    with pytest.raises(BadManifest):
        manifest.parse(('{"gitmodels_manifest":1}\n' + line + "\n").encode())
