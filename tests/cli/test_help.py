"""`hutch help`: topics generated from the code."""

import inspect

from hutch import errors


def test_exit_codes_list_every_error_class(hutch):
    out = hutch("help", "exit-codes", check=0).out
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.HutchError) and cls is not errors.HutchError:
            assert f"{cls.exit_code}  {name}" in out


def test_repo_urls_and_unknown_topic(hutch):
    urls = hutch("help", "repo-urls", check=0).out
    assert "/~user/repo" in urls
    assert "s3://BUCKET[/PREFIX]" in urls and "AWS_ENDPOINT_URL" in urls
    assert "R PATH" in hutch("help", "patterns", check=0).out
    assert "usage: hutch create" in hutch("help", "create", check=0).out
    r = hutch("help", "nosuch", check=2)
    assert "no help topic 'nosuch'" in r.err
