"""The login form: Django's, with the username's length checked before anything looks it up.

Django's AuthenticationForm sets the username's max_length after the field is made, which
sizes the input but validates nothing: a longer name reached authenticate(), and django-axes
then failed to record the attempt in its 255-character column (a 500 for anyone, logged in or not).
"""

from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


class LoginForm(AuthenticationForm):
    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length))
