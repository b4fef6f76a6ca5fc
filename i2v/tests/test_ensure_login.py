from django.contrib.auth import get_user_model
from django.core.management import call_command


def test_it_creates_the_login_once_with_a_random_password(db, capsys):
    call_command("ensure_login", username="demo")
    first = capsys.readouterr().out
    password = first.split("password: ")[1].split()[0]
    user = get_user_model().objects.get(username="demo")
    assert user.check_password(password) and user.is_superuser
    call_command("ensure_login", username="demo")
    second = capsys.readouterr().out
    assert password not in second and "changepassword demo" in second


def test_it_never_reuses_a_password(db, capsys):
    call_command("ensure_login", username="one")
    call_command("ensure_login", username="two")
    out = capsys.readouterr().out
    passwords = [line.split("password: ")[1].split()[0] for line in out.splitlines() if "password: " in line]
    assert len(set(passwords)) == 2
