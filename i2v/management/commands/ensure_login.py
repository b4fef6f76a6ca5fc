import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the login for `make run` once, printing its random password that one time."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            return (
                f"Login: {username} (its password was printed when it was made; "
                f"`manage.py changepassword {username}` sets a new one)"
            )
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        return f"Created login: {username} / password: {password}  (shown once; keep it)"
