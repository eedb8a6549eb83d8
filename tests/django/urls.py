from django.urls import include, path

urlpatterns = [path("sms/webhooks/", include("smsgate.contrib.django.urls"))]
